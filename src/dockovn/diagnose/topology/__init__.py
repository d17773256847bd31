"""`dockovn topology`: model (what the cluster holds, read from NB and SB) and graph
(the model drawn with Graphviz)."""
