"""Training the shipped models.

loop.py         the training loop: from scratch, or retrofitted onto a pretrained encoder with LoRA
settings.py     TrainSettings and settings_problems (light: the command line's options, without torch)
lora.py         LoRA adapters (peft) on the retrofit's attention and FFN projections
finalize.py     after training: tau chosen on dev from the beacon sweep, metrics.json, the model card
model_card.py   the model card (README.md) rendered from metrics.json: every number from the evaluation code
"""
