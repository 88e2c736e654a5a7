"""Numerics shared by both solvers: step control, the SDIRK2 coefficients, the Newton rules."""
