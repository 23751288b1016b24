def test_append_then_list(cli):
    res = cli("events", "append", "A", "WP1", "--payload", '{"x": 1}')
    assert res.code == 0, res.err
    listed = cli("events", "list", "--json").json()
    assert [e["event_id"] for e in listed] == [res.out.strip()]


def test_bad_type_is_one_line(cli):
    res = cli("events", "append", "bad type", "WP1")
    assert res.code == 1
    assert res.err.count("\n") == 1 and "event_type" in res.err
