# A first working image: the CPU build of torch 2.13.0 from PyTorch's CPU index, JAX on the CPU.
# `docker build -t jaxmath .` then `docker run --rm -v "$PWD/outputs:/app/outputs" jaxmath` runs
# every lab (make labs); `docker run --rm jaxmath make test` runs the suite.
# For a GPU image, start from nvcr.io/nvidia/pytorch (the course's container) and
# `pip install "jax[cuda12]"` instead; a later issue finishes this file.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    MPLBACKEND=Agg

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .

# The same steps as the Makefile's set-up, with the CPU wheel index named explicitly.
RUN python -m venv .venv \
    && .venv/bin/pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
    && .venv/bin/pip install -e ".[test]" \
    && touch .venv/.installed

CMD ["make", "labs"]
