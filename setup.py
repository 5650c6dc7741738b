"""Packaging that reads nbdev's settings.ini, so the version and requirements live in one place."""
from configparser import ConfigParser
from pathlib import Path

from setuptools import find_packages, setup

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).with_name("settings.ini"))
c = cfg["DEFAULT"]
split = lambda key: c.get(key, "").split()

setup(
    name=c["lib_name"],
    version=c["version"],
    description=c["description"],
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=c["author"],
    license="Apache-2.0",
    python_requires=">=" + c["min_python"],
    packages=find_packages(include=[c["lib_path"], c["lib_path"] + ".*"]),
    install_requires=split("requirements"),
    extras_require={
        "dev": split("dev_requirements"),
        "baselines": ["torch>=2.0"],
    },
    entry_points={"console_scripts": split("console_scripts"), "nbdev": [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
    zip_safe=False,
)
