import numpy as np

from benchmark.data.text import sentence


def test_same_seed_same_text_and_seeds_differ():
    a = [sentence(np.random.default_rng(7), 8) for _ in range(2)]
    assert a[0] == a[1]
    texts = {sentence(np.random.default_rng(s), 8) for s in range(20)}
    assert len(texts) >= 18


def test_length_follows_the_request_and_reads_as_a_sentence():
    rng = np.random.default_rng(0)
    for n in (4, 8, 16, 30):
        for _ in range(20):
            text = sentence(rng, n)
            assert text[0].isupper() and text[-1] in ".?!"
            assert n - 2 <= len(text.split()) <= n + 12 or n <= 4
