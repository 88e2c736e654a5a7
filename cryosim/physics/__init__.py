"""Physics: materials, phase change, probes, protocols, scene objects, boundary conditions, exact solutions.

Nothing here knows about a mesh or a solver.
"""
