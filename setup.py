"""Setup for tfnq: neural image compression beyond plain rounding."""

import setuptools

setuptools.setup(
    name="tfnq",
    version="0.1.0",
    description=(
        "Neural image compression with universal quantization, soft rounding and "
        "better test-time inference, on TensorFlow Compression."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["tfnq", "tfnq.*"]),
    package_data={"tfnq": ["data/*.png"]},
    install_requires=[
        "tensorflow==2.14.1",
        "tensorflow-compression==2.14.1",
        "tensorflow-probability==0.22.1",
        # TF Serving's request protos and gRPC stub (warm-up requests, tfnq.serving;
        # scripts/serving_client.py); its version is TensorFlow's, so pip keeps 2.14.1.
        "tensorflow-serving-api==2.14.1",
        "numpy<2",
        "absl-py",
        "pillow",
        # Evaluation against classical codecs (tfnq.evaluation). imagecodecs 2026.3.6 and
        # later require numpy>=2, which TensorFlow 2.14 cannot use.
        "imagecodecs>=2024.9.22,<2026.3",
        "pillow-heif>=0.18",
        "bjontegaard>=1.3,<2",
        "matplotlib>=3.8",
        "tqdm",
        # ANS, the stack coder (tfnq.coders.AnsCoder) for bits-back coding.
        "constriction>=0.4,<0.6",
    ],
    extras_require={
        "test": ["hypothesis>=6.80", "pytest", "pytest-xdist", "ruff"],
    },
    entry_points={"console_scripts": ["tfnq = tfnq.cli:main"]},
    license="Apache 2.0",
)
