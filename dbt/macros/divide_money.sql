{#-
    Why this macro exists: DuckDB divides DECIMALs in DOUBLE, PostgreSQL in exact NUMERIC,
    so `round(2.01 / 2, 2)` is 1.00 on DuckDB and 1.01 on PostgreSQL. This macro divides
    a money amount and rounds to whole cents, half up, the same way on both warehouses.
    Division by zero gives null.

    Why it is exact: amount * 100 / n lands on a half cent only when it is exactly k + 0.5,
    which a DOUBLE represents exactly; otherwise it is at least 1/n away from one, far more
    than DOUBLE's rounding error. So floor(x + 0.5) picks the same cent on both.
-#}
{%- macro divide_money(numerator, denominator) -%}
    cast(
        floor({{ numerator }} * 100 / nullif({{ denominator }}, 0) + 0.5) / 100
        as decimal(18, 2)
    )
{%- endmacro %}
