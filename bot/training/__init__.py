"""Teaching the local model this deployment's tools: training data, and the agent evaluation.

``templates`` holds the request phrasings and realistic values, ``data`` turns the workspace's
tools, forms and the audit of approved actions into split JSONL files, ``eval_agent`` measures
tool choice and arguments through the real model path. The fine-tuning loop itself lives in
``bot/llm/train.py`` because it needs torch.
"""
