"""Build step: the notebooks of notebooks/ travel inside the package as socketlab/_course/, as student copies.

Everything else about the package is in pyproject.toml.  notebooks/ stays the only
source: the copy is made into the build folder at each build, never into the tree.
Which files belong to the course is decided by socketlab/course.py, loaded here by
path (it uses the standard library only), so the copy and `socketlab course` agree; the
copies are made by socketlab/instructor/release.py, loaded the same way with its i18n.

The message catalogs are compiled here too: each socketlab/locale/<lang>/LC_MESSAGES/
socketlab.po becomes its .mo in the build folder (the wheel carries the .mo files, not
the .po), and in the tree for an editable install, by socketlab/i18n.py loaded the same way.
"""

import importlib.util
import shutil
import sys
import types
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def course_module():
    return load("_socketlab_course", HERE / "socketlab" / "course.py")


def release_module():
    """socketlab/instructor/release.py, whose one import of the package is its i18n (the stubs speak the
    notebook's edition): loaded under stand-in packages, so that import finds i18n and no __init__ runs."""
    if "_socketlab.instructor.release" in sys.modules:
        return sys.modules["_socketlab.instructor.release"]
    for name, folder in (("_socketlab", HERE / "socketlab"), ("_socketlab.instructor", HERE / "socketlab" / "instructor")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    load("_socketlab.i18n", HERE / "socketlab" / "i18n.py")
    return load("_socketlab.instructor.release", HERE / "socketlab" / "instructor" / "release.py")


def student_copy(source: Path, target: Path) -> None:
    """The notebook as students get it: answers stubbed, hidden tests removed (never the solutions)."""
    import nbformat

    release = release_module()
    nbformat.write(release.release_notebook(nbformat.read(source, as_version=4)), target)


class build_py_with_course(build_py):
    def run(self):
        super().run()
        i18n = load("_socketlab_i18n", HERE / "socketlab" / "i18n.py")
        if self.editable_mode:
            i18n.compile_catalogs(HERE / "socketlab" / "locale")  # the tree is the package
            return  # an editable install reads notebooks/ itself
        if not i18n.compile_catalogs(Path(self.build_lib) / "socketlab" / "locale", remove_po=True):
            raise SystemExit("no message catalogs in socketlab/locale: the package would ship in English only")
        source = HERE / "notebooks"
        target = Path(self.build_lib) / "socketlab" / "_course"
        if target.exists():
            shutil.rmtree(target)  # no file left over from an older build
        files = course_module().course_files(source)
        if not any(f.endswith(".ipynb") for f in files):
            raise SystemExit(f"no notebooks in {source}: the package would ship without its course")
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".ipynb"):
                student_copy(source / rel, target / rel)
            else:
                shutil.copyfile(source / rel, target / rel)


setup(cmdclass={"build_py": build_py_with_course})
