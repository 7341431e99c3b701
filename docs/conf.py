"""Sphinx configuration for the chatroom documentation.

Build with ``sphinx-build -W -b html docs docs/_build`` (warnings are
errors, so a broken reference fails the build), into an empty directory:
an incremental build does not repeat the warnings of unchanged pages.
The diagrams need Graphviz's ``dot`` on the PATH.
"""

project = "chatroom"
author = "the chatroom authors"

extensions = ["sphinx.ext.graphviz"]

# README.rst lives at the top of the repository, not here; _build is
# the output directory.
exclude_patterns = ["_build"]

html_theme = "alabaster"
graphviz_output_format = "svg"
