"""Shapes: a sample package for the test_generation tests."""
