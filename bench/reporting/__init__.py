"""How every benchmark writes its results (bench/results/<stem>.md, .json, .png) and
the small statistics they share."""
