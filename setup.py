"""Ship the top-level rules/ folder inside the wheel as portmodel/_rules (see portmodel.core.rules.rules_dir)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRules(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "portmodel" / "_rules"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(__file__).parent / "rules", target)


setup(cmdclass={"build_py": BuildWithRules})
