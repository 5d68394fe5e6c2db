"""Sphinx configuration of the mne-biocodec documentation.

Build with ``make -C doc html`` (warnings are errors). Three things are generated here, at
configuration time, into ``generated/`` (ignored by git):

- ``generated/api_modules.rst``: the reference of every public module (one autosummary
  section per module, from its ``__all__``; modules inside subpackages for what their
  subpackage does not export), so that modules added later are documented without editing
  this file and a module that is absent does not break the build;
- ``generated/cli_help.txt``: the ``--help`` text of the command line and its subcommands;
- optional pages (written by other parts of the project) are listed in a toctree by a line
  ``optional:NAME``, kept as ``NAME`` when ``NAME.rst`` exists and dropped otherwise.

Intersphinx needs the internet; it is off unless ``MNE_BIOCODEC_INTERSPHINX=1``.
"""

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MNE_DATA", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
os.environ.setdefault("MPLBACKEND", "Agg")

import mne_biocodec  # noqa: E402
from mne_biocodec import __version__  # noqa: E402

project = "mne-biocodec"
author = "mne-biocodec developers"
copyright = "2026, mne-biocodec developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb"]

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False,
                           "member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- intersphinx: offline-safe -------------------------------------------------------------
# No inventory can be fetched without the internet, and a failed fetch is a warning (an
# error with -W). Set MNE_BIOCODEC_INTERSPHINX=1 to link to the other projects' docs.
intersphinx_mapping = {}
if os.environ.get("MNE_BIOCODEC_INTERSPHINX", "") not in ("", "0"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "mne": ("https://mne.tools/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "moabb": ("https://moabb.neurotechx.com/docs", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    }

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"mne-biocodec {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": [], "install": [], "quickstart": []}
html_show_sourcelink = False

# -- sphinx-gallery ------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 0,
}

# -- generated pages -----------------------------------------------------------------------
GENERATED = HERE / "generated"

#: Public modules, in the order of the module reference, with a section title. Modules of the
#: package that are not listed here are appended (sorted) with their docstring's first line.
MODULE_TITLES = {
    "mne_biocodec": "Top level",
    "mne_biocodec.estimators": "Estimators",
    "mne_biocodec.tokens": "Tokens (engine, cache, token files, recordings)",
    "mne_biocodec.codec": "The codec (torch)",
    "mne_biocodec.preprocessing": "Preprocessing",
    "mne_biocodec.channels": "Channel picking",
    "mne_biocodec.pretrained": "Shipped codecs",
    "mne_biocodec.training": "Training and fine-tuning",
    "mne_biocodec.datasets": "Datasets (offline loaders and codec splits)",
    "mne_biocodec.data": "Sample data",
    "mne_biocodec.analysis": "Analysis of tokens and reconstructions",
    "mne_biocodec.viz": "Plots",
    "mne_biocodec.corpus": "Corpus encoding (Dask)",
    "mne_biocodec.moabb": "MOABB pipelines and benchmark",
    "mne_biocodec.baselines": "Classic baselines",
    "mne_biocodec.cli": "Command line",
}

_AUTOSUMMARY_ENTRY = re.compile(r"^\s{3,}(~?[A-Za-z_][\w.]*)\s*$")


def _public_modules():
    """Public modules: the package's own (ordered as above), then those of its subpackages.

    A name is public when no part of it starts with ``_``. Modules of subpackages come last,
    sorted, and are documented only for what their parent does not already export.
    """
    names = ["mne_biocodec"]
    for info in pkgutil.iter_modules(mne_biocodec.__path__):
        if not info.name.startswith("_"):
            names.append(f"mne_biocodec.{info.name}")
    known = [name for name in MODULE_TITLES if name in names]
    deeper = sorted(info.name for info in pkgutil.walk_packages(mne_biocodec.__path__,
                                                                "mne_biocodec.")
                    if info.name.count(".") >= 2
                    and not any(part.startswith("_") for part in info.name.split(".")))
    return known + sorted(set(names) - set(known)) + deeper


def _curated_entries(path):
    """Fully qualified names listed in the autosummary directives of a hand-written page."""
    current, entries, in_autosummary = "mne_biocodec", set(), False
    for line in path.read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            current = line.split("::", 1)[1].strip()
        if line.startswith(".. autosummary::"):
            in_autosummary = True
            continue
        if in_autosummary and line and not line.startswith(" "):
            in_autosummary = False
        match = _AUTOSUMMARY_ENTRY.match(line) if in_autosummary else None
        if match and not line.strip().startswith(":"):
            entries.add(f"{current}.{match.group(1).lstrip('~')}")
    return entries


def _object(qualname):
    module, _, attr = qualname.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _summary_line(module):
    doc = inspect.getdoc(module) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


#: id of a documented class or function -> the name it is documented under.
DOCUMENTED_AS = {}


def _module_reference():
    """The text of ``generated/api_modules.rst``: one section per public module."""
    curated = _curated_entries(HERE / "api.rst")
    DOCUMENTED_AS.update({id(_object(name)): name for name in curated})
    documented = set(DOCUMENTED_AS)
    lines = [".. _api_modules:", "", "Module reference", "================", "",
             "Every public module and what it exports (its ``__all__``). Objects that the",
             ":doc:`main API page </api>` lists, or that another module re-exports, appear",
             "once, where they are exported for users; the modules inside subpackages",
             "(last) add the building blocks their subpackage does not export.", ""]
    for modname in _public_modules():
        try:
            module = importlib.import_module(modname)
        except Exception as err:  # an optional dependency is missing: say so, do not fail
            print(f"[conf.py] not documenting {modname}: {err!r}")
            continue
        names = [n for n in getattr(module, "__all__", []) if n != "__version__"]
        entries = []
        for name in names:
            obj = getattr(module, name, None)
            if obj is None:
                continue
            is_constant = not (inspect.isclass(obj) or inspect.isroutine(obj))
            if not is_constant and id(obj) in documented:
                continue
            if not is_constant:
                documented.add(id(obj))
                DOCUMENTED_AS.setdefault(id(obj), f"{modname}.{name}")
            entries.append(name)
        if not entries and modname.count(".") >= 2:
            continue  # a subpackage's module whose exports are all documented elsewhere
        title = MODULE_TITLES.get(modname) or modname
        heading = f"{title}: ``{modname}``" if title != modname else f"``{modname}``"
        lines += [heading, "-" * len(heading), "", f".. automodule:: {modname}",
                  "   :no-members:", "", f".. currentmodule:: {modname}", ""]
        if entries:
            lines += [".. autosummary::", "   :toctree: .", ""]
            lines += [f"   {name}" for name in entries] + [""]
        else:
            lines += ["Everything this module exports is listed on the :doc:`API page </api>`.",
                      ""]
    return "\n".join(lines) + "\n"


def _cli_help():
    """``--help`` of ``mne-biocodec`` and of each subcommand."""
    from mne_biocodec.cli import build_parser

    parser = build_parser()
    parts = [parser.format_help()]
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            parts.append(f"$ mne-biocodec {name} --help\n{sub.format_help()}")
    return "\n".join(parts)


def _write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


_write_if_changed(GENERATED / "api_modules.rst", _module_reference())
_write_if_changed(GENERATED / "cli_help.txt", _cli_help())

_OPTIONAL_ENTRY = re.compile(r"^(\s+)optional:(\S+)\s*$", re.MULTILINE)


def _optional_toctree_entries(app, docname, source):
    """Keep ``optional:NAME`` toctree lines whose page exists, as ``NAME``; drop the rest."""
    def keep(match):
        name = match.group(2)
        base = (HERE / docname).parent if not name.startswith("/") else HERE
        exists = (base / f"{name.lstrip('/')}.rst").is_file()
        return f"{match.group(1)}{name}" if exists else ""
    source[0] = _OPTIONAL_ENTRY.sub(keep, source[0])


#: Substitutions that link to pages other parts of the project add; plain text until the page
#: exists, so that the build never refers to a missing document.
OPTIONAL_LINKS = {
    "scale_guide": ("scale", "the scale-out guide"),
    "benchmark_results": ("benchmark_results", "the MOABB benchmark results page"),
}
rst_epilog = "\n".join(
    f".. |{key}| replace:: :doc:`{text} </{page}>`" if (HERE / f"{page}.rst").is_file()
    else f".. |{key}| replace:: {text}"
    for key, (page, text) in OPTIONAL_LINKS.items()) + "\n"


def _resolve_alias(app, env, node, contnode):
    """Resolve a reference to another public path of a documented object.

    ``mne_biocodec.codec.BioCodec`` is documented once, as ``mne_biocodec.BioCodec``; a
    reference to the former (or to the defining module's path) is sent to the latter.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("mne_biocodec."):
        return None
    try:
        obj = _object(target)
    except (ImportError, AttributeError, ValueError):
        return None
    name = DOCUMENTED_AS.get(id(obj))
    if name is None or name == target:
        return None
    return env.domains["py"].resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                          name, node, contnode)


# Strict mode: every reference to mne_biocodec must resolve (MNE_BIOCODEC_NITPICKY=1, or
# ``make html-strict``). Off by default; other projects' objects are not checked (no
# intersphinx offline).
nitpicky = os.environ.get("MNE_BIOCODEC_NITPICKY", "") not in ("", "0")
nitpick_ignore_regex = [(r"py:.*", r"(?s)(?!mne_biocodec\b).*")]


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request, set_predict_request, ... for an estimator whose
    # methods take extra arguments (BioCodecClassifier's groups); their docstrings point into
    # scikit-learn's glossary, which an offline build cannot resolve.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)
    app.connect("source-read", _optional_toctree_entries)
    app.connect("missing-reference", _resolve_alias)
