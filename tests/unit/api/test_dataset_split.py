"""``POST /v1/datasets/{id}/split``: deterministic children that record their parent."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.fixtures.api import chat_jsonl, upload_dataset


def _lines(client: TestClient, dataset_id: str) -> list[str]:
    return client.get(f"/v1/datasets/{dataset_id}/content").text.splitlines()


def test_split_makes_two_valid_children_with_their_parent(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(100), filename="sentiment.jsonl")
    response = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={"validation_fraction": 0.2, "seed": 7})
    assert response.status_code == 201, response.text
    body = response.json()
    train, validation = body["train"], body["validation"]
    assert (train["num_examples"], validation["num_examples"]) == (80, 20)
    assert train["parent_id"] == validation["parent_id"] == parent["id"]
    assert (train["split_role"], validation["split_role"]) == ("train", "validation")
    assert train["status"] == validation["status"] == "valid"
    assert train["name"] == "sentiment.train.jsonl"
    parent_lines = _lines(auth_client, parent["id"])
    children = _lines(auth_client, train["id"]) + _lines(auth_client, validation["id"])
    assert sorted(children) == sorted(parent_lines), "every example lands in exactly one child"
    assert all(json.loads(line)["messages"] for line in children)


def test_same_fraction_and_seed_give_the_same_children(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(50))
    first = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={"seed": 3}).json()
    again = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={"seed": 3}).json()
    assert again["train"]["id"] == first["train"]["id"], "a repeated split returns the children it made"
    other = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={"seed": 4}).json()
    assert other["validation"]["sha256"] != first["validation"]["sha256"], "another seed picks other examples"
    assert first["validation"]["num_examples"] == 5


def test_invalid_parent_is_422_with_its_errors(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(12) + b"{not json\n")
    assert parent["status"] == "invalid"
    response = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={})
    assert response.status_code == 422
    assert "invalid_json" in response.json()["error"]["message"]


def test_out_of_range_fraction_is_400(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(12))
    for fraction in (0, 1, 1.5, -0.1):
        response = auth_client.post(f"/v1/datasets/{parent['id']}/split", json={"validation_fraction": fraction})
        assert response.status_code == 400, (fraction, response.text)


def test_another_tenants_dataset_cannot_be_split(auth_client: TestClient, other_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(12))
    response = other_client.post(f"/v1/datasets/{parent['id']}/split", json={})
    assert response.status_code == 404
    assert auth_client.get("/v1/datasets").json()["data"][0]["id"] == parent["id"], "no child was made"


def test_a_three_way_split_gives_a_disjoint_test_child(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(40))
    response = auth_client.post(f"/v1/datasets/{parent['id']}/split",
                                json={"validation_fraction": 0.1, "test_fraction": 0.25, "seed": 9, "stratify": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["test"]["split_role"] == "test" and body["test"]["parent_id"] == parent["id"]
    counts = [body[role]["num_examples"] for role in ("train", "validation", "test")]
    assert counts == [26, 4, 10]
    lines = {role: set(_lines(auth_client, body[role]["id"])) for role in ("train", "validation", "test")}
    assert not (lines["test"] & lines["train"]) and not (lines["test"] & lines["validation"])
    again = auth_client.post(f"/v1/datasets/{parent['id']}/split",
                             json={"validation_fraction": 0.1, "test_fraction": 0.25, "seed": 9, "stratify": True})
    assert again.json()["test"]["id"] == body["test"]["id"], "a repeated split returns the children it made"


def test_fractions_leaving_no_training_data_are_422(auth_client: TestClient) -> None:
    parent = upload_dataset(auth_client, chat_jsonl(20))
    response = auth_client.post(f"/v1/datasets/{parent['id']}/split",
                                json={"validation_fraction": 0.5, "test_fraction": 0.5})
    assert response.status_code == 422 and response.json()["error"]["details"]["param"] == "test_fraction"
