{#-
    Why this macro exists: "which orders count as revenue" is one business rule that both
    marts (customer_orders.lifetime_value and daily_revenue.revenue) depend on. Written
    once here, the two marts cannot drift apart. Returned orders never count; an order
    whose return is still pending counts until the return completes. The statuses are the
    project variable `revenue_statuses` (dbt_project.yml), from the data contract.

    Renders a boolean SQL expression, for example:
        {{ counts_as_revenue('status') }}  ->  (status in ('placed', ...))
-#}
{%- macro counts_as_revenue(status_column) -%}
    ({{ status_column }} in ('{{ var("revenue_statuses") | join("', '") }}'))
{%- endmacro %}
