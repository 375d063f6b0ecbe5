"""Helpers shared by the Python benchmarks in bench/ (the C++ ones share bench_support.h): a free
loopback port for a `facefuse serve` they start, and the machine line every benchmark prints."""
import os
import platform
import socket


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's pick; another process may take it
    before the server binds it, which the caller's start-up wait then reports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def machine_line():
    """CPU, cores and the 1/5/15-minute load average: other work on a shared machine slows every figure."""
    load = os.getloadavg()
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
