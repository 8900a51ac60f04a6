# The course's container (NGC PyTorch 25.11: CUDA 13.0, Python 3.12, PyTorch, JupyterLab) with JAX
# for CUDA and this project added. By default it starts JupyterLab on the lab notebooks, as the
# course module starts its container:
#
#   docker build -t jaxmath .
#   docker run --gpus all -it --rm --ipc=host -p 8888:8888 -v "$PWD/outputs:/workspace/outputs" jaxmath
#
# A CPU-only image (python:3.12-slim, the CPU build of torch, JAX for the CPU; no NVIDIA base, runs
# without a GPU):
#
#   docker build --build-arg DEVICE=cpu -t jaxmath:cpu .
#   docker run -it --rm -p 8888:8888 jaxmath:cpu
#
# Anything else instead of JupyterLab: `docker run ... jaxmath python -m labs run all --out
# /workspace/outputs`, `... jaxmath python -m labs check-env`, `... jaxmath make test`.
# The notebooks are written at build time by `python -m labs notebooks` (solutions/ and labs/,
# the student versions with exercise stubs) into /workspace/notebooks.

ARG DEVICE=gpu

# ---- GPU: NVIDIA's image as the course uses it ----------------------------------------------------
FROM nvcr.io/nvidia/pytorch:25.11-py3 AS base-gpu
# JAX's CUDA 13 wheels (they bring their own CUDA libraries from PyPI, as jax[cuda13] documents);
# torch, numpy and JupyterLab stay NVIDIA's builds, held by the image's /etc/pip/constraint.txt.
ENV JAX_SPEC="jax[cuda13]==0.10.2"

# ---- CPU: a small image with the same Python ------------------------------------------------------
FROM python:3.12-slim AS base-cpu
ENV JAX_SPEC="jax==0.10.2" \
    PIP_NO_CACHE_DIR=1
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
    && pip install "jupyterlab==4.4.*"

# ---- The project, on either base ----------------------------------------------------------------
# DL3006 (tag every image) cannot see that base-${DEVICE} is one of the two stages above, whose
# images are tagged.
# hadolint ignore=DL3006
FROM base-${DEVICE}
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_WAIT_POLICY=PASSIVE
WORKDIR /workspace/jaxmath
COPY . .
# JAX as pinned above, the project with its notebook tools (pyproject's "notebooks" extra), then
# the notebooks. DL3013 (pin pip versions) cannot see the pin inside ${JAX_SPEC}, and the project's
# own dependencies are pyproject's ranges, installed from the local path.
# hadolint ignore=DL3013
RUN pip install "${JAX_SPEC}" -e ".[notebooks]" \
    && python -m labs notebooks --out /workspace/notebooks \
    && mkdir -p /workspace/outputs

EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--allow-root", "--no-browser", \
     "--notebook-dir=/workspace/notebooks"]
