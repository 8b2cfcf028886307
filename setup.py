"""setup.py — builds libsenti.so with CMake and ships it inside the senti package.

Environment:
  SENTI_BUILD_DIR   an already configured CMake build tree to build the
                    senti_shared target in (default: build-python, configured
                    here as Release without tests)
  SENTI_CMAKE_ARGS  extra arguments for that configuration (e.g. -DSENTI_CUDA=ON;
                    the default build leaves CUDA off)
  SENTI_BUILD_JOBS  parallel build jobs (default: all cores)
"""
import glob
import os
import shlex
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
MODEL = "sst2-minilm-l6-q8_0.gguf"


class BuildWithCMake(build_py):
    def run(self):
        super().run()
        bdir = os.environ.get("SENTI_BUILD_DIR") or os.path.join(ROOT, "build-python")
        if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
            args = ["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF",
                    "-DSENTI_CUDA=OFF", "-DSENTI_HTTP=OFF"] + shlex.split(os.environ.get("SENTI_CMAKE_ARGS", ""))
            subprocess.check_call(args)
        jobs = os.environ.get("SENTI_BUILD_JOBS") or str(os.cpu_count() or 1)
        if subprocess.call(["cmake", "--build", bdir, "--target", "senti_shared", "-j", jobs]) != 0:
            raise RuntimeError("senti: building libsenti.so in %s failed (a tree configured with "
                               "-DSENTI_SHARED=OFF has no senti_shared target)" % bdir)
        libs = sorted(glob.glob(os.path.join(bdir, "libsenti.so.*.*.*")))
        if not libs:
            raise RuntimeError("senti: the build made no libsenti.so in %s" % bdir)
        dest = os.path.join(self.build_lib, "senti")
        os.makedirs(os.path.join(dest, "models"), exist_ok=True)
        shutil.copyfile(libs[-1], os.path.join(dest, "libsenti.so"))
        model = os.path.join(ROOT, "models", MODEL)
        if os.path.exists(model):
            shutil.copyfile(model, os.path.join(dest, "models", MODEL))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True  # libsenti.so: a platform wheel


setup(
    packages=["senti"],
    package_dir={"": "python"},
    cmdclass={"build_py": BuildWithCMake},
    distclass=BinaryDistribution,
    options={"build": {"build_base": os.path.join("build-python", "setuptools")},
             "egg_info": {"egg_base": "build-python"}},
)
