# The two commands in README.md: `make run` (set up, then run the daemon on the built-in demo source) and
# `make test` (set up, then run the test suite). Everything else here serves those two.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APT_PACKAGES := libgl1 libglib2.0-0 gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base \
                gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav systemd \
                chromium chromium-driver

.PHONY: setup system-deps run test bench lint install-service clean

setup: system-deps $(STAMP)

# System libraries: OpenCV's GUI build needs libGL/glib; the fault tests run Debian's GStreamer RTSP server and
# systemd-analyze; the upload panel's browser test drives Debian's chromium through chromium-driver (never a
# downloaded browser). Installed only when missing, and only where we may (root with apt); otherwise we say what to do.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (run: sudo apt-get install$$missing)" >&2; exit 1; fi; \
	fi

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch + torchvision first, as a matched pair from the package index (see constraints.txt).
	$(PY) -m pip install -q -c constraints.txt torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e ".[test,ray]"  # ray: the batch tests run a real Ray cluster
	$(PY) -c "import torch, torchvision, timm, cv2, av, zmq, onnxruntime, imagezmq, ray, xdist, pytest_timeout; print('deps ok: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

# Weights: a path in $$DEPTH_STREAMER_WEIGHTS, else the official file fetched (and sha256-verified) once.
run: setup
	@if [ -z "$$DEPTH_STREAMER_WEIGHTS" ]; then $(VENV)/bin/depth-streamer weights fetch; fi
	$(VENV)/bin/depth-streamer run --config configs/default.toml

test: setup
	$(PY) -m ruff check streamer tests
	$(PY) -m mypy streamer
	# Two processes (pytest-xdist) share the two cores: most tests wait on daemons, sockets and child processes as
	# much as they compute. The few that compare rates measured one after the other (marked `serial`) run alone after.
	$(PY) -m pytest -q -n 2 --dist worksteal -m "not serial" --durations=25
	$(PY) -m pytest -q -m serial --durations=5

bench: setup
	$(VENV)/bin/depth-streamer bench model

# One service instance per camera: /etc/depth-streamer/<name>.toml -> depth-streamer@<name> (see README).
install-service:
	bash systemd/install.sh

clean:
	rm -rf $(VENV) build *.egg-info
