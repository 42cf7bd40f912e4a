"""pb.fit runs SVI → NUTS on Notch with the pretrained surrogate as the forward model.

Data come from the *reference solver* (pb.simulate: nominal θ, 12 irregular times, N and H in both
cells, 10 % noise, known σ), so the check includes the surrogate's model-form error. Slow: compiling
the surrogate's forward-mode gradient and 2 × (200 + 200) NUTS iterations take minutes on the
shared 2-core CPU (timings are printed; see reports/surrogate.md).
"""

import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.infer.fit import forward_label
from pbhno_bayes.surrogate import HybridSurrogate


@pytest.mark.slow
def test_fit_notch_with_surrogate():
    sur = HybridSurrogate.pretrained("notch")
    pw = sur.pathway
    obs = pb.simulate(pw, times=12, observe=("N", "H"), noise=0.1, seed=3)
    idata = pb.fit(sur, obs, chains=2, warmup=200, samples=200, seed=0, progress=False)
    post = idata.posterior
    assert post.attrs["forward"] == forward_label(sur)
    th = post["theta"].values.reshape(-1, post.sizes["param"])
    assert np.all(np.isfinite(th))
    names = [str(n) for n in post["param"].values]
    assert names == list(pw.free)
    truth = np.asarray([pw.theta_vector(None)[pw.param_names.index(n)] for n in names])
    lo, hi = np.percentile(th, 5, axis=0), np.percentile(th, 95, axis=0)
    inside = (lo <= truth) & (truth <= hi)
    times = {k: round(float(v), 1) for k, v in idata.attrs.items() if k.startswith("time_")}
    print(f"\nnotch surrogate fit: {dict(zip(names, inside.tolist(), strict=True))} timings {times} "
          f"divergences {int(idata.sample_stats['diverging'].values.sum())} failed {idata.attrs['n_failed_solves']}")
    assert inside.sum() >= len(names) - 1, list(zip(names, lo, truth, hi, strict=True))
    # the posterior learned something: narrower than the prior (sd 0.5 on log θ) for most parameters
    sd = np.std(np.log(th), axis=0)
    assert np.sum(sd < 0.5) >= len(names) // 2, sd
    assert idata.attrs["n_failed_solves"] == 0
