# Airflow image with this project's pinned dependencies (used by docker-compose.yaml).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt /opt/perf/requirements.txt
RUN pip install --no-cache-dir -r /opt/perf/requirements.txt
COPY --chown=airflow:root perf_tasks /opt/perf/perf_tasks
COPY --chown=airflow:root trading_agent /opt/perf/trading_agent
COPY --chown=airflow:root config /opt/perf/config
ENV PYTHONPATH=/opt/perf
