"""Installation script of mne-biocodec."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "mne_biocodec" / "_version.py").read_text(), version)

setup(
    name="mne-biocodec",
    version=version["__version__"],
    description="Neural-codec tokens for EEG and EMG, for MNE, scikit-learn and MOABB",
    long_description=(here / "README.rst").read_text() if (here / "README.rst").exists() else "",
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["mne_biocodec", "mne_biocodec.*"]),
    package_data={"mne_biocodec": ["pretrained/*.safetensors", "pretrained/*.json",
                                   "pretrained/*.md", "data/*.edf", "data/*.md",
                                   # MOABB pipeline files: a folder, not a package
                                   "moabb/pipeline_files/*.py"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "torch>=2.2,<2.15",
        "mne>=1.6",
        "scikit-learn>=1.4",
        "skorch>=1.0",
        "moabb>=1.1",
        "pyriemann>=0.6",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "threadpoolctl>=3.1",
        "matplotlib>=3.6",
        "edfio>=0.4",
        "dask[distributed]>=2024.1",
        "mne-bids>=0.14",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout", "hypothesis>=6.80"],
        "doc": ["sphinx>=7", "pydata-sphinx-theme", "sphinx-gallery>=0.15", "numpydoc"],
    },
    entry_points={"console_scripts": ["mne-biocodec=mne_biocodec.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
