"""Version of the tutor-contrib-llm plugin (also the default tag of the gateway image)."""

__version__ = "0.1.0"
