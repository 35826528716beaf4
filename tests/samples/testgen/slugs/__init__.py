"""A sample package without annotations or docstring examples (test_generation's calls and
doctypes sources): only its own tests' calls and its docstrings' types say how it is used."""
