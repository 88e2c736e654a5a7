"""Geometry and meshing: graded finite-volume grids and the gmsh (r, z) mesher."""
