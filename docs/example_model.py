"""A scripted stand-in model for the README's walkthrough (`--model scripted/docs/example_model.py`).

It answers the sample project's functions the way a capable model would, so the
walkthrough is reproducible offline. It is not a model: use a real one
(`--model openai/gpt-4o-mini`, `--model ollama/qwen2.5-coder`) on your own code.
"""

ANSWERS = {
    "slugify": "## Reasoning\nRuns of non-alphanumerics become one '-'; strip the ends.\n\n## Code\n```python\n"
    "import re\n\ndef slugify(title):\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n```\n",
    "initials": "## Reasoning\nFirst letter of each word, upper-cased.\n\n## Code\n```python\n"
    "def initials(name):\n    return ''.join(word[0].upper() for word in name.split())\n```\n",
    "common_words": "## Reasoning\n`word in b` scans a list: use a set for b and for what was seen.\n\n## Code\n```python\n"
    "def common_words(a, b):\n    wanted, seen, out = set(b), set(), []\n    for word in a:\n"
    "        if word in wanted and word not in seen:\n            seen.add(word)\n            out.append(word)\n"
    "    return out\n```\n",
}


def respond(messages, params):
    if messages[0]["content"].startswith("You are a strict code reviewer"):
        return "The code is correct and simple.\nScore: 5/5"
    prompt = messages[-1]["content"]
    for name, answer in ANSWERS.items():
        if f"`{name}`" in prompt:
            return answer
    return "I cannot help with this one."
