from dockovn.host.docker_engine import same_driver


def test_legacy_and_managed_names_are_the_same_plugin():
    assert same_driver("dockovn", "dockovn")
    assert same_driver("dockovn:latest", "dockovn")
    assert same_driver("dockovn", "dockovn:v2")
    assert not same_driver("bridge", "dockovn")
    assert not same_driver("dockovn-other:latest", "dockovn")
