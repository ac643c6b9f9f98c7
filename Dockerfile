# The image every Kubeflow task of a compiled penstock pipeline runs in
# (`penstock compile --target kubeflow PIPELINE_FILE --image <this image>`).
#
# It holds the whole project, so pipeline files, module files and function components are on
# the task's path: nothing is uploaded at compile time. Tasks run
#   python -m penstock run-node <pipeline file relative to /app> --node ID --run-id RUN ...
# from /app, the working directory below, so build it from the directory you compile in.
#
#   docker build -t registry.example.com/penstock:0.1.0 .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    TF_USE_LEGACY_KERAS=1 \
    PENSTOCK_HOME=/tmp/penstock

# uv installs the ~340-package lock in well under a minute; pip takes minutes.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first, in their own layer: they change far less often than the project.
COPY requirements/lock.txt requirements/lock.txt
RUN uv pip install --system -r requirements/lock.txt

COPY . .
RUN uv pip install --system --no-deps -e . \
    && python -m penstock --help > /dev/null

ENTRYPOINT []
CMD ["python", "-m", "penstock", "--help"]
