"""Measuring quality: the agent evaluation (tool choice, arguments, answers) and retrieval.

``agent`` runs cases through the real model path, ``matchers`` decides whether a reply meets a
case, ``report`` prints, stores and plots the results, ``retrieval`` scores search on a
workspace's question set. The running bot never imports this package.
"""
