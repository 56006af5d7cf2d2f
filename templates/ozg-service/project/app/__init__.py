"""An online service of a Bavarian municipality, generated with the Kommunal-Kit."""

__version__ = "0.1.0"
