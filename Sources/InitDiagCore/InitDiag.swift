/// initdiag's version, written into traces and reports.
public let initdiagVersion = "0.1.0"
