"""Test helpers shipped with scsim, so that every module's tests (and users' own)
draw regimes from the same generators. Importing it requires ``hypothesis``."""
