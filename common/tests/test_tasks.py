from common.tasks import exclusive


def test_a_periodic_job_runs_once_at_a_time_and_frees_its_lock():
    with exclusive("job-under-test", seconds=30) as first:
        with exclusive("job-under-test", seconds=30) as second:
            assert (first, second) == (True, False)
    with exclusive("job-under-test", seconds=30) as again:
        assert again is True


def test_a_lock_that_someone_else_took_over_is_not_released_by_the_old_holder():
    from django.core.cache import cache

    with exclusive("job-taken-over", seconds=30) as mine:
        assert mine
        cache.set("lock:job-taken-over", "another-holder", timeout=30)
    assert cache.get("lock:job-taken-over") == "another-holder"
    cache.delete("lock:job-taken-over")
