"""Teaching the local model this deployment's tools: training data and the LoRA train loop.

``templates``, ``intents`` and ``values`` hold request phrasings and realistic values, ``data``
turns the workspace's tools, forms and the audit of approved actions into split JSONL files,
``batches`` renders records into token ids exactly as the chat model renders them, and
``train`` fits the adapter. The running bot never imports this package.
"""
