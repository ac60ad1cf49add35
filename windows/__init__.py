"""Building the agent for Windows on Linux: the embeddable CPython, its wheels, the package."""
