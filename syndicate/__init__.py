"""syndicate: a newsletter and syndication feed publisher."""

__version__ = "0.1.0"
