"""Post-processing: isotherm measures, trackers, results tables and files, figures."""
