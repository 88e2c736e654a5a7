"""Clinical answers beyond the ice ball: surface cryotherapy of the skin (:mod:`cryosim.clinical.skin`)."""
