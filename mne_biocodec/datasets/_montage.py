"""Template electrode positions for the 10-20 / 10-05 channel names of the loaders."""

__all__ = ["set_template_montage"]


def set_template_montage(raw, system):
    """Set the ``standard_<system>`` montage under whichever name this MNE knows.

    MNE 1.13 renamed ``standard_1005``/``standard_1020`` to ``colin27_1005``/``colin27_1020``
    (same positions) and deprecated the old names; older MNE only knows the old ones.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Modified in place.
    system : {"1005", "1020"}
        The electrode system.
    """
    import mne

    name = f"colin27_{system}"
    if name not in mne.channels.get_builtin_montages():
        name = f"standard_{system}"
    raw.set_montage(name)
