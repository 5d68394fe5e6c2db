"""MOABB datasets that read local copies of the recordings and never download."""

import logging

from moabb.datasets import PhysionetMI
from moabb.datasets.utils import stim_channels_with_selected_ids

from ..datasets._paths import require_file, get_data_path
from ..datasets.eegmmidb import edf_path

__all__ = ["OfflinePhysionetMI"]

# MOABB's PhysionetMI labels: T0 is rest in every run; T1/T2 mean fists in the left/right runs
# and both fists/both feet in the hands/feet runs.
_HAND_LABELS = {"T0": "rest", "T1": "left_hand", "T2": "right_hand"}
_FEET_LABELS = {"T0": "rest", "T1": "hands", "T2": "feet"}


class OfflinePhysionetMI(PhysionetMI):
    """MOABB's PhysionetMI restricted to the runs present in a local eegmmidb copy.

    :class:`moabb.datasets.PhysionetMI` loads every imagery run of a subject (left/right
    fists *and* hands/feet) and downloads what is missing. This subclass reads only the EDF
    files found under an ``MNE_DATA``-style root, skips absent runs, lists as subjects only
    those with at least one wanted run, and raises :class:`FileNotFoundError` instead of
    downloading. Paradigms select the classes as usual: ``LeftRightImagery`` works for every
    subject holding runs 4/8/12, a 4-class ``MotorImagery`` only for subjects that also hold
    runs 6/10/14.

    Parameters
    ----------
    imagined : bool, default=True
        Use the imagery runs (4, 8, 12 and 6, 10, 14).
    executed : bool, default=False
        Use the executed-movement runs (3, 7, 11 and 5, 9, 13).
    subjects : list of int | None, default=None
        Subjects to use; None takes every subject with at least one wanted run on disk.
    path : str | path-like | None, default=None
        The ``MNE_DATA``-style root (``MNE-eegbci-data/files/eegmmidb/1.0.0/S001/...``);
        None reads ``MNE_DATA`` (see :func:`mne_biocodec.datasets.get_data_path`).

    Attributes
    ----------
    subject_list : list of int
        The subjects used.
    root : pathlib.Path
        The data root in use.

    See Also
    --------
    mne_biocodec.datasets.load_eegmmidb_epochs : The same recordings without MOABB.

    Notes
    -----
    Runs keep MOABB's names (``"0"``-``"2"`` for the fists runs, ``"3"``-``"5"`` for the
    hands/feet runs), so results line up with :class:`moabb.datasets.PhysionetMI`'s.

    Examples
    --------
    >>> from moabb.paradigms import LeftRightImagery  # doctest: +SKIP
    >>> X, y, meta = LeftRightImagery().get_data(OfflinePhysionetMI(), subjects=[1, 2, 3])  # doctest: +SKIP
    """

    def __init__(self, imagined=True, executed=False, subjects=None, path=None):
        # PhysionetMI's constructor sets its own code, and MOABB logs a warning when the class
        # name does not abbreviate it; the code is replaced right after.
        logger = logging.getLogger("moabb.datasets.base")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            super().__init__(imagined=imagined, executed=executed)
        finally:
            logger.setLevel(level)
        self.code = "OfflinePhysionetMotorImagery"
        self.path = path
        self.root = get_data_path(path)
        if subjects is None:
            self.subject_list = [s for s in self.subject_list if self.present_runs(s)]
        else:
            subjects = [int(s) for s in subjects]
            invalid = [s for s in subjects if s not in self._all_subjects]
            if invalid:
                raise ValueError(f"subjects {invalid} are not PhysionetMI subjects; choose "
                                 "among 1-109.")
            for subject in subjects:
                if not self.present_runs(subject):
                    wanted = self.hand_runs + self.feet_runs
                    require_file(edf_path(self.root, subject, wanted[0]),
                                  f"EEGMMI subject {subject} (none of runs {wanted} found)")
            self.subject_list = subjects

    def present_runs(self, subject):
        """The wanted runs of ``subject`` whose EDF file is on disk, in MOABB's order.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        runs : list of int
        """
        return [run for run in self.hand_runs + self.feet_runs
                if edf_path(self.root, subject, run).is_file()]

    def _load_data(self, subject, runs, path=None, force_update=False, verbose=None):
        # Local files only: a missing file is an error, never a download.
        root = get_data_path(path) if path is not None else self.root
        return [str(require_file(edf_path(root, subject, run),
                                  f"EEGMMI subject {subject} run {run}"))
                for run in ([runs] if isinstance(runs, int) else runs)]

    def data_path(self, subject, path=None, force_update=False, update_path=None,
                  verbose=None):
        """Paths of the subject's EDF files on disk (baselines and wanted runs)."""
        if subject not in self.subject_list:
            raise ValueError(f"subject {subject} is not in this dataset's subject_list "
                             f"{self.subject_list}.")
        root = get_data_path(path) if path is not None else self.root
        runs = [1, 2] + self.hand_runs + self.feet_runs
        return [str(p) for p in (edf_path(root, subject, r) for r in runs) if p.is_file()]

    def _get_single_subject_data(self, subject):
        """Runs present on disk, annotated and with MOABB's stim channel."""
        runs = {}
        present = set(self.present_runs(subject))
        for idx, run in enumerate(self.hand_runs + self.feet_runs):
            if run not in present:
                continue
            raw = self._load_one_run(subject, run)
            labels = _HAND_LABELS if run in self.hand_runs else _FEET_LABELS
            descriptions = set(raw.annotations.description)
            raw.annotations.rename({k: v for k, v in labels.items() if k in descriptions})
            runs[str(idx)] = stim_channels_with_selected_ids(raw,
                                                             desired_event_id=self.events)
        return {"0": runs}
