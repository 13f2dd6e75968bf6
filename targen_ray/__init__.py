"""targen-ray: TarGEN dataset generation as a Ray application. The library is `targen_ray.interface.api`: one
call per `targen` command (`api.run("jobs/boolq.yaml", limit=40)`, `api.estimate(...)`, ...)."""

__version__ = "0.1.0"
