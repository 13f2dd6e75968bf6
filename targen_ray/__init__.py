"""targen-ray: TarGEN dataset generation as a Ray application."""

__version__ = "0.1.0"
