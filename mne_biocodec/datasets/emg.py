"""EMG recordings: UCI "EMG data for gestures" (surface, MYO armband) and PhysioNet emgdb (needle).

Lobov S. et al., "Latent Factors Limiting the Performance of sEMG-Interfaces", Sensors 18(4),
1122, 2018. PhysioNet "Examples of Electromyograms", doi:10.13026/C24S3D; Goldberger A. et
al., Circulation 101(23), 2000.
"""

import re

import numpy as np

from ._paths import require_dir, require_file, get_data_path

__all__ = ["load_uci_emg_raw", "load_physionet_emg_raw", "UCI_GESTURES", "PHYSIONET_EMG_RECORDS"]

#: UCI gesture codes (column ``class``) -> annotation names; 0 (unmarked) gets none.
UCI_GESTURES = {
    1: "rest",
    2: "fist",
    3: "wrist_flexion",
    4: "wrist_extension",
    5: "radial_deviation",
    6: "ulnar_deviation",
    7: "extended_palm",
}
#: The three PhysioNet emgdb records.
PHYSIONET_EMG_RECORDS = ("emg_healthy", "emg_myopathy", "emg_neuropathy")

# Physical units a WFDB header may give, in volts (headers differ in case: "mV", "mv").
_WFDB_UNITS = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "nv": 1e-9}


def _labels_to_annotations(labels, sfreq):
    """One annotation per run of constant non-zero gesture code."""
    import mne

    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, labels.size]
    keep = labels[starts] != 0
    return mne.Annotations(starts[keep] / sfreq, (stops - starts)[keep] / sfreq,
                           [UCI_GESTURES.get(int(c), f"gesture_{int(c)}")
                            for c in labels[starts[keep]]])


def _read_uci_series(fname, sfreq):
    import mne

    table = np.loadtxt(fname, skiprows=1, dtype=np.float64)
    time_s = table[:, 0] / 1000.0
    # Rows sit on an irregular ~1 kHz grid but hold the ~200 Hz Myo stream sample-and-hold
    # (most rows repeat). A zero-order hold onto a uniform grid keeps exactly the values the
    # device delivered instead of inventing slopes between repeated rows.
    grid = time_s[0] + np.arange(int(np.floor((time_s[-1] - time_s[0]) * sfreq)) + 1) / sfreq
    rows = np.clip(np.searchsorted(time_s, grid, side="right") - 1, 0, len(time_s) - 1)
    emg = table[rows, 1:9].T
    labels = table[rows, 9].astype(int)
    ch_names = [f"EMG{k}" for k in range(1, 9)] + ["gesture"]
    info = mne.create_info(ch_names, sfreq, ["emg"] * 8 + ["stim"])
    raw = mne.io.RawArray(np.vstack([emg, labels[np.newaxis].astype(float)]), info,
                          verbose=False)
    raw.set_annotations(_labels_to_annotations(labels, sfreq))
    return raw


def load_uci_emg_raw(subject, path=None, series=(1, 2), sfreq=200.0):
    """Load UCI "EMG data for gestures" of one subject: 8 surface EMG channels.

    Parameters
    ----------
    subject : int
        Subject number (1-36; the shared data hold 1, 3 and 4).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`. Files are expected in
        ``emg/uci-emg-gestures/EMG_data_for_gestures-master/NN/S_raw_data_*.txt``.
    series : int | tuple of int, default=(1, 2)
        Which of the subject's two series to load; several are concatenated.
    sfreq : float, default=200.0
        Rate of the uniform grid the samples are put on (the MYO armband delivers ~200 Hz).

    Returns
    -------
    raw : mne.io.RawArray | mne.io.Raw
        Channels ``EMG1``-``EMG8`` (``"emg"``) and ``gesture`` (``"stim"``, the class code
        0-7 of every sample), with one annotation per gesture hold named as in
        :data:`UCI_GESTURES`.

    Raises
    ------
    FileNotFoundError
        If the subject folder or a series file is missing; the message names it.

    Notes
    -----
    The file values are the MYO's int8 levels times 1e-5 and are used as volts as they are
    (1 level = 10 uV); the armband is not calibrated, so treat amplitudes as relative.
    """
    import mne

    series = (series,) if np.ndim(series) == 0 else tuple(series)
    root = get_data_path(path)
    folder = require_dir(root / "emg" / "uci-emg-gestures" / "EMG_data_for_gestures-master"
                          / f"{int(subject):02d}", f"UCI EMG subject {int(subject):02d}")
    raws = []
    for ser in series:
        matches = sorted(folder.glob(f"{int(ser)}_raw_data_*.txt"))
        if not matches:
            require_file(folder / f"{int(ser)}_raw_data_*.txt",
                          f"UCI EMG subject {int(subject):02d} series {int(ser)}")
        raws.append(_read_uci_series(matches[0], float(sfreq)))
    return mne.concatenate_raws(raws) if len(raws) > 1 else raws[0]


def _parse_wfdb_header(fname):
    """Parse the record line and signal lines of a WFDB ``.hea`` header."""
    lines = [ln.strip() for ln in fname.read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    record = lines[0].split()
    n_sig = int(record[1])
    fs = float(record[2].split("/")[0].split("(")[0]) if len(record) > 2 else 250.0
    n_samp = int(record[3]) if len(record) > 3 else None
    signals = []
    for line in lines[1:1 + n_sig]:
        fields = line.split()
        gain_field = fields[2] if len(fields) > 2 else "200"
        m = re.fullmatch(r"([-+.\deE]+)(?:\(([-\d]+)\))?(?:/(\S+))?", gain_field)
        if m is None:
            raise ValueError(f"Cannot parse the WFDB gain field {gain_field!r} in {fname}.")
        adc_zero = int(fields[4]) if len(fields) > 4 else 0
        gain = float(m.group(1)) or 200.0  # WFDB: gain 0 means the default 200
        signals.append(dict(
            file=fields[0], fmt=fields[1].split("x")[0].split(":")[0].split("+")[0],
            gain=gain, baseline=int(m.group(2)) if m.group(2) else adc_zero,
            units=(m.group(3) or "mV"),
            initval=int(fields[5]) if len(fields) > 5 else None,
            checksum=int(fields[6]) if len(fields) > 6 else None,
            name=" ".join(fields[8:]) if len(fields) > 8 else f"EMG{len(signals) + 1}",
        ))
    return fs, n_samp, signals


def load_physionet_emg_raw(record, path=None):
    """Load one PhysioNet emgdb needle-EMG record (WFDB format 16, one channel, 4 kHz).

    Parameters
    ----------
    record : str
        ``"emg_healthy"``, ``"emg_myopathy"`` or ``"emg_neuropathy"`` (the ``"emg_"``
        prefix may be left out).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`. Files are expected in
        ``emg/physionet-emgdb/<record>.hea`` and ``.dat``.

    Returns
    -------
    raw : mne.io.RawArray
        One ``"emg"`` channel in volts (physical = (digital - baseline) / gain, gain in
        ADC units per mV as the header states), at the header's rate (4000 Hz).

    Raises
    ------
    FileNotFoundError
        If the header or the signal file is missing; the message names the file.
    ValueError
        If the record uses a WFDB storage format other than 16, or the ``.dat`` file does
        not match the header (sample count or checksum).

    Notes
    -----
    The header and the 16-bit little-endian ``.dat`` are read with numpy, so the ``wfdb``
    package is not needed. The myopathy header writes its unit as ``"mv"``; units are
    matched case-insensitively.
    """
    import mne

    record = str(record)
    if not record.startswith("emg_"):
        record = f"emg_{record}"
    folder = get_data_path(path) / "emg" / "physionet-emgdb"
    header = require_file(folder / f"{record}.hea", f"PhysioNet EMG record {record} header")
    fs, n_samp, signals = _parse_wfdb_header(header)
    if {s["file"] for s in signals} != {signals[0]["file"]} or any(
            s["fmt"] != "16" for s in signals):
        raise ValueError(f"{header}: only single-file WFDB format 16 records are supported.")
    dat = require_file(folder / signals[0]["file"], f"PhysioNet EMG record {record} signal")
    digital = np.fromfile(dat, dtype="<i2").reshape(-1, len(signals)).T
    if n_samp is not None and digital.shape[1] != n_samp:
        raise ValueError(f"{dat} holds {digital.shape[1]} samples; {header} says {n_samp}.")
    data = np.empty(digital.shape, dtype=np.float64)
    for k, sig in enumerate(signals):
        # WFDB checksums are the 16-bit two's-complement sum of all samples.
        if sig["checksum"] is not None:
            total = int(digital[k].astype(np.int64).sum())
            if (total - sig["checksum"]) % 65536:
                raise ValueError(f"{dat}: checksum of signal {k} does not match {header}.")
        to_volts = _WFDB_UNITS.get(sig["units"].lower())
        if to_volts is None:
            raise ValueError(f"{header}: unsupported physical unit {sig['units']!r}.")
        data[k] = (digital[k] - sig["baseline"]) / sig["gain"] * to_volts
    info = mne.create_info([s["name"] for s in signals], fs, "emg")
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.info["description"] = f"PhysioNet emgdb record {record}"
    return raw
