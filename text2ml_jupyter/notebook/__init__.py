"""The Jupyter layer: magics, the live dashboard, writing cells back, headless runs.

Everything Jupyter lives here; the engine (the rest of the package) imports nothing from it.
"""
