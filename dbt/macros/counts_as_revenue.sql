{#-
    Why this macro exists: "which orders count as revenue" is one business rule that both
    marts (customer_orders.lifetime_value and daily_revenue.revenue) depend on. Written
    once here, the two marts cannot drift apart. Returned orders never count; an order
    whose return is still pending counts until the return completes.

    Renders a boolean SQL expression, for example:
        {{ counts_as_revenue('status') }}  ->  (status in ('placed', 'shipped', ...))
-#}
{%- macro counts_as_revenue(status_column) -%}
    {%- set revenue_statuses = ['placed', 'shipped', 'completed', 'return_pending'] -%}
    ({{ status_column }} in ('{{ revenue_statuses | join("', '") }}'))
{%- endmacro %}
