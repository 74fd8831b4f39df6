"""Models are shared read-only between calls: many ModelInfer calls at once on
both frameworks, while another client unloads and reloads the same models
over and over. Every call succeeds (a call that finds its model unloaded
loads it again) and every answer is the same."""
import threading

from conftest import FRAMEWORKS
from oip import infer_request, output

ROUNDS = 25


def test_infer_while_unloading(ip, new_inference, repository, models, heart):
    me = new_inference(repository.target, "--preload", ",".join(models.values()))
    test = heart[1]
    want = {fw: output(me.stub.ModelInfer(infer_request(ip, models[fw], test), timeout=60), "label")
            for fw in FRAMEWORKS}
    errors, stop = [], threading.Event()

    def infer(fw):
        try:
            for _ in range(ROUNDS):
                got = output(me.stub.ModelInfer(infer_request(ip, models[fw], test), timeout=60), "label")
                assert got == want[fw], fw
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def churn():
        try:
            while not stop.is_set():
                for name in models.values():
                    me.stub.RepositoryModelUnload(ip.pb2.RepositoryModelUnloadRequest(model_name=name), timeout=30)
                    me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(model_name=name), timeout=60)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=infer, args=(fw,)) for fw in FRAMEWORKS for _ in range(3)]
    churner = threading.Thread(target=churn)
    churner.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    churner.join()
    assert not errors, errors
    assert me.shim.alive()
