"""Airflow: run a penstock pipeline as an Airflow DAG, one task per component.

``create_dag`` builds the DAG (it imports Airflow, so only the Airflow scheduler and workers
call it); ``write_dag_file`` writes the small DAG file that calls it, without importing Airflow.
"""

from penstock.orchestrators.airflow.dag import create_dag, write_dag_file

__all__ = ["create_dag", "write_dag_file"]
