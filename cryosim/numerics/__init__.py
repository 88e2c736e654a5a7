"""Numerics shared by both solvers: step control."""
