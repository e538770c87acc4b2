with

customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('stg_orders') }}

),

order_summary as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as most_recent_order_date,
        count(order_id) as number_of_orders,
        sum(
            case when {{ counts_as_revenue('status') }} then amount else 0 end
        ) as lifetime_value

    from orders
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        order_summary.first_order_date,
        order_summary.most_recent_order_date,
        cast(coalesce(order_summary.number_of_orders, 0) as bigint) as number_of_orders,
        cast(coalesce(order_summary.lifetime_value, 0) as decimal(18, 2)) as lifetime_value

    from customers
    left join order_summary
        on customers.customer_id = order_summary.customer_id

)

select * from final
