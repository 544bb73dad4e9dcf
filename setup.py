"""Install the three library folders under one package name, ``crossmodal_ray``.

The folders stay where the design card puts them (``pipelines/``, ``models/``, ``training/``
at the top of the repository); the wheel maps them to ``crossmodal_ray.pipelines``,
``crossmodal_ray.models`` and ``crossmodal_ray.training``, so installing the project never
claims generic top-level names such as ``models`` that other projects use too.
Everything else about the project is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

LIBRARY_FOLDERS = ("pipelines", "models", "training")
PACKAGE = "crossmodal_ray"

setup(
    packages=[
        f"{PACKAGE}.{name}"
        for name in find_packages(include=[f"{folder}*" for folder in LIBRARY_FOLDERS])
    ],
    package_dir={f"{PACKAGE}.{folder}": folder for folder in LIBRARY_FOLDERS},
)
